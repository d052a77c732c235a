import sys

from guestgate_dev.cli import main

sys.exit(main())
