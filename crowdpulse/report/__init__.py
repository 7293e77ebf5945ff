"""The post-show report: `crowdpulse report --db GATEWAY.db --out night.html`.

Built from what the gateway already keeps in its SQLite file, all of it at zone
level: the scores once a second (gateway/store.py), the selector's history and
log (selector/store.py).  One self-contained HTML file: the plots are inline
SVG drawn by matplotlib, the styles are inline, nothing is loaded from
anywhere.  `data` reads the file, `plots` draws, `page` writes the HTML.
"""
