"""Entry point in a checkout: `python run.py [group=option ...] [key=value ...]` (see README); the same app as
`python -m tsexplain`, with the configs in src/tsexplain/conf."""

from tsexplain.__main__ import main

if __name__ == "__main__":
    main()
