import sys

from netinspect.cli import main

sys.exit(main())
