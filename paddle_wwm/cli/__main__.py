import sys

from paddle_wwm.cli import main

sys.exit(main())
