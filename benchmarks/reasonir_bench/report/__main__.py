"""python3 -m reasonir_bench.report --results DIR/results.json [--out DIR] [--no-plots]"""
import sys

from reasonir_bench.report import main

sys.exit(main())
