"""A development set of real recordings from Debian packages, and nights mixed from them.

`catalog` names every source (package, files, licence) and the nights; `fetch`
downloads and converts the set into a cache outside the repository; `nights`
mixes a night (a music bed, then a crowd or a confuser joining it); `harness`
scores a night through `crowdpulse score` and reads the issue-11 figures.
See docs/recordings.md.
"""
