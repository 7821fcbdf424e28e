import sys

from evalpin.cli import main

sys.exit(main())
