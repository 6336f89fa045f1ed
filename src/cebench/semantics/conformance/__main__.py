"""``python -m cebench.semantics.conformance --write-doc [PATH]``: regenerate docs/semantics.md.

A script (everything under ``if __name__ == "__main__"``): nothing imports it.
"""

if __name__ == "__main__":
    import argparse
    import sys
    from pathlib import Path

    from cebench.semantics.conformance.docs import DOC_PATH, write_doc

    parser = argparse.ArgumentParser(prog="python -m cebench.semantics.conformance")
    parser.add_argument("--write-doc", nargs="?", const=str(DOC_PATH), metavar="PATH",
                        help=f"write the semantics doc (default {DOC_PATH})")
    args = parser.parse_args()
    if not args.write_doc:
        parser.print_help()
        sys.exit(2)
    print(write_doc(Path(args.write_doc)))
