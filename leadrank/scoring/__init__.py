"""Stage 4, score: leads → priority, rank, tier and reasons (`priority`).

`ratios` and `segments` from financial statements (`financials`), the learned model from CRM
outcomes (`model`, `outcomes`), reasons in words (`explain`). A regular package (not a namespace
one) so that tools that walk the import graph, such as the layers contract in pyproject.toml,
see it.
"""
