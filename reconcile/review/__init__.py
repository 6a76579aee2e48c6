"""Review before anything runs: what a spec change does (`specdiff`), the
migration plan's rules as lint (`lint`), and the pull-request comment (`prcomment`).
No credentials: they read files, git and saved snapshots.
"""
