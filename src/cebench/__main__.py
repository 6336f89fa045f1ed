import sys

from cebench.cli import main

sys.exit(main())
