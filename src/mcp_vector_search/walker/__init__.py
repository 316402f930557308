"""Find the files of a project worth indexing, and read them safely.

walk() decides from names and one stat per file; read_source() decides from content.
Neither raises for a problem with a single file: the problem becomes a Skipped record
with one of the SKIP_REASONS, so the index can show why a file is missing. diff() says
what a walk means for the index: what to read, what is newly skipped, what is gone.

Names are handled as bytes throughout, as git does, so ignore rules agree with
`git ls-files` for every name, and names that are not UTF-8 can be reported.

How a path is decided, first match wins:
  1. never: .git/.hg/.svn/.bzr, our index dir, a directory holding pyvenv.cfg;
  2. ignore files, with git's precedence (a deeper directory beats a shallower one,
     the last matching line in a file wins): the repository's info/exclude, then per
     directory its .gitignore and, above that, its .mcpvsignore (same syntax). When the
     root is inside a repository, the .gitignore files above it count as well;
  3. built-in excludes (node_modules, build, lock files, ...) unless a .mcpvsignore
     line re-included the path; a .gitignore negation does not, so the common
     `*` + `!*/` whitelist idiom cannot drag node_modules in;
  4. secrets (.env, keys) unless index_secrets; then the `exclude` setting, which wins
     over `include`; then `include`, where the nearest matching level (the file or
     one of its directories) decides.
A file inside a pruned directory can never come back, as in git; pruned directories
are not descended into at all.

The modules: `names` (what a name alone says), `rules` (the ignore-rule stack),
`walk` (the walk and the one per-entry decision it shares with the single-path checks),
`reading` (content), `changes` (the diff).
"""

from .changes import Changes, diff, needs_reading
from .names import (
    BINARY,
    CONTENT_SKIPS,
    GENERATED,
    MINIFIED,
    MVS_IGNORE_NAME,
    SKIP_REASONS,
    SYMLINK_LOOP,
    SYMLINK_OUTSIDE,
    TOO_LARGE,
    UNDECODABLE,
    UNREADABLE,
    VANISHED,
)
from .reading import Source, hash_bytes, read_source
from .walk import (
    GONE,
    Candidate,
    Dir,
    Skipped,
    Verdict,
    WalkResult,
    candidate_for,
    is_ignored,
    path_verdict,
    walk,
    walk_under,
)

__all__ = [
    "BINARY",
    "CONTENT_SKIPS",
    "GENERATED",
    "GONE",
    "MINIFIED",
    "MVS_IGNORE_NAME",
    "SKIP_REASONS",
    "SYMLINK_LOOP",
    "SYMLINK_OUTSIDE",
    "TOO_LARGE",
    "UNDECODABLE",
    "UNREADABLE",
    "VANISHED",
    "Candidate",
    "Changes",
    "Dir",
    "Skipped",
    "Source",
    "Verdict",
    "WalkResult",
    "candidate_for",
    "diff",
    "hash_bytes",
    "is_ignored",
    "needs_reading",
    "path_verdict",
    "read_source",
    "walk",
    "walk_under",
]
