"""`python -m leadrank.cli`: the same command line as the `leadrank` script, for a checkout that
is on the path but not installed (or installed with the script pointing elsewhere)."""

from leadrank.cli import main

main()
