"""Stages 2 and 3, normalise and dedupe: extracted records → normalised records → leads.

`normalise` and `resolve` are the two stages; `names`, `contacts`, `identifiers`, `regions` and
`legal_forms` reduce fields to matching keys; `matching`, `fellegi_sunter` and `clustering` pair
and group records; `golden` builds one row per lead. A regular package (not a namespace one) so
that tools that walk the import graph, such as the layers contract in pyproject.toml, see it.
"""
