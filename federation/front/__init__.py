"""The buffering front that serves the internet: nginx, configured and supervised by us.

Why: gunicorn's gthread workers give each connection a thread for as long as its request
takes to arrive, so a handful of clients trickling bytes hold them all (issue 12). nginx
reads whole requests at the cost of a few KiB per connection, within short timeouts, and
only then hands them to gunicorn over a private socket.
"""
