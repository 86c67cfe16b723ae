import sys

from netinspect.cli.app import main

sys.exit(main())
