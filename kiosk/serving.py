"""Serving with waitress, without its main loop spinning against the request threads.

A waitress request thread writes its answer itself: it takes the connection's output
lock, appends the bytes and sends them. While it holds that lock, waitress's stock
``HTTPChannel.writable()`` reports data waiting, ``select()`` says the socket can
take it and returns at once, the main loop tries the lock, fails and goes round again
- as long as the request thread needs to get back from ``send()`` and win the GIL
from the spinning loop. Under wrk that was 19 loop rounds and 32 failed flushes per
rating on two cores, the main thread taking most of the GIL, and it hit the rating
writer hardest, whose group commit sends a batch of answers at once (see
bench/ingest.py).

``Channel`` leaves such a connection out of the write set while its request thread
holds the lock. Nothing is lost: the thread pulls waitress's trigger whenever it
leaves bytes unsent, and again when it finishes the request, so the main loop looks
again exactly when there is something for it to do.
"""
from __future__ import annotations

import logging

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server


class Channel(HTTPChannel):
    """waitress's channel, not polled for writing while a request thread writes."""

    def writable(self) -> bool:
        if self.requests and self.total_outbufs_len and not (
                self.will_close or self.close_when_flushed):
            # A request is being served and bytes are queued: if its thread holds the
            # output lock, it is sending them itself.
            if not self.outbuf_lock.acquire(False):
                return False
            self.outbuf_lock.release()
        return super().writable()


def make_server(app, **adjustments) -> BaseWSGIServer:
    """``waitress.create_server`` whose connections use ``Channel``."""
    sockets: dict = {}
    server = create_server(app, map=sockets, **adjustments)
    for listener in list(sockets.values()):
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = Channel
    return server


def serve(app, **adjustments) -> None:
    """``waitress.serve`` with ``Channel``; runs until interrupted."""
    # waitress warns on every request that finds all threads busy; at a hall's peak
    # that is a line per tap, and writing it costs more than storing the rating.
    logging.basicConfig()  # as waitress.serve: its errors reach the console
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = make_server(app, **adjustments)
    server.print_listen("Serving on http://{}:{}")
    server.run()
