"""The listener's TCP side: who may hold a connection, for how long, and over TLS or not.

pynetdicom's server accepts every connection and gives it an association thread. A peer that sends
three bytes of a PDU header and stops holds that thread forever: the reader blocks in recv() on a
socket without timeout, so neither the ARTIM timer nor the idle timer ever fires. Ten such sockets
took all of pynetdicom's default ten slots (issue 16.1). Here:

- every accepted socket gets DICOM_NETWORK_TIMEOUT, so a stalled or partial PDU ends the
  association within that many seconds;
- one address holds at most DICOM_MAX_ASSOCIATIONS_PER_PEER connections and all of them together
  at most DICOM_MAX_ASSOCIATIONS; a connection over either is closed at once, and logged;
- the TLS handshake runs in the association's own thread, under the same timeout, not in the
  accept loop, where one silent client would stop every other from connecting.
"""

from __future__ import annotations

import logging
import ssl
from collections import Counter

from django.conf import settings
from pynetdicom.transport import AssociationServer

log = logging.getLogger(__name__)


class GuardedAssociationServer(AssociationServer):
    """An AssociationServer with socket timeouts, connection limits and a non-blocking TLS accept."""

    max_per_peer: int = 4

    def get_request(self):
        client, address = self.socket.accept()
        # Without a timeout, a PDU cut short blocks its reader for good (see the module doc).
        client.settimeout(self.ae.network_timeout)
        if self.ssl_context is not None:
            client = self.ssl_context.wrap_socket(client, server_side=True, do_handshake_on_connect=False)
        return client, address

    def open_connections(self) -> Counter:
        """Live associations (including ones still waiting for their A-ASSOCIATE) per peer address."""
        return Counter(assoc.requestor.address for assoc in self.active_associations)

    def verify_request(self, request, client_address) -> bool:
        peer = client_address[0]
        open_now = self.open_connections()
        total = sum(open_now.values())
        if total >= self.ae.maximum_associations:
            log.warning("DICOM connection from %s refused: %d associations open, the limit is %d",
                        peer, total, self.ae.maximum_associations)
            return False
        if open_now[peer] >= self.max_per_peer:
            log.warning("DICOM connection from %s refused: that address already holds %d associations (limit %d)",
                        peer, open_now[peer], self.max_per_peer)
            return False
        return True


def tls_context_from_settings() -> ssl.SSLContext | None:
    """The server-side TLS context from DICOM_TLS_* (None when no certificate is configured).

    With DICOM_TLS_CA_FILE set, a client must present a certificate signed by that CA: that, not
    the calling AE title, is what authenticates a device.
    """
    if not settings.DICOM_TLS_CERT_FILE:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.DICOM_TLS_CERT_FILE, settings.DICOM_TLS_KEY_FILE or None)
    if settings.DICOM_TLS_CA_FILE:
        context.load_verify_locations(settings.DICOM_TLS_CA_FILE)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
