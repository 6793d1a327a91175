import sys

from bench_gnn.cli import main

sys.exit(main())
