#!/usr/bin/env python3
"""Entry point: ``python run_search.py --space lite`` (see ``--help``)."""

import sys

from search.cli import main

if __name__ == "__main__":
    sys.exit(main())
