import sys

from unyo._cli import main

sys.exit(main())
