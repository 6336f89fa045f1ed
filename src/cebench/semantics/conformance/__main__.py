"""``python -m cebench.semantics.conformance --write-doc [PATH]``: regenerate docs/semantics.md.

A script, not a library module: nothing imports it.
"""

import argparse
import sys
from pathlib import Path

from cebench.semantics.conformance.docs import DOC_PATH, write_doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cebench.semantics.conformance")
    parser.add_argument("--write-doc", nargs="?", const=str(DOC_PATH), metavar="PATH",
                        help=f"write the semantics doc (default {DOC_PATH})")
    args = parser.parse_args(argv)
    if args.write_doc:
        print(write_doc(Path(args.write_doc)))
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
