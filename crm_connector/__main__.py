"""Entry point of ``python -m crm_connector``."""

import sys

from crm_connector.cli import main

if __name__ == "__main__":
    sys.exit(main())
