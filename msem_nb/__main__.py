import sys

from msem_nb.cli import main

sys.exit(main())
