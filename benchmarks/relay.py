"""How fast the outbox empties: N orders placed first, then the relay (events to webhook
deliveries and customer notifications) and the webhook sender run until everything is
delivered to a receiver on this machine, in process, one worker. Events relayed per second,
webhooks delivered per second, on a fresh migrated database (SQLite file, or PostgreSQL with
--database-url).

    .venv/bin/python benchmarks/relay.py --orders 300
    .venv/bin/python benchmarks/relay.py --orders 300 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from dispatch import database
from tests.builders import a_shop, place

from ordermesh.adapters.db.engine import make_engine, retry_reason
from ordermesh.adapters.db.migrate import upgrade
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.adapters.webhooks.sender import WebhookSender, new_secret
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.webhooks import WebhookSetup


class Quiet(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        Quiet.received += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    opts = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    with tempfile.TemporaryDirectory() as folder:
        db_url, drop = database(opts.database_url, Path(folder))
        engine = make_engine(db_url, pool_size=5)
        upgrade(engine)
        bus = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                         webhooks=WebhookSetup(WebhookSender(allow_private=True), new_secret))
        a_shop(bus).location("WH-1").product("TEE-1").stock("TEE-1", "WH-1", opts.orders * 2)
        bus.handle(c.UpdateChannel("bench", "web", {"payment_gateway": None}))
        bus.handle(c.CreateWebhookSubscription("bench", url, ("*",)))
        for _ in range(opts.orders):
            place(bus, ("TEE-1", 1), payment_token=None)
        started = time.perf_counter()
        relayed = 0
        while done := bus.handle(c.RelayEvents("bench", limit=opts.batch)):
            relayed += done
        relay_s = time.perf_counter() - started
        started = time.perf_counter()
        sent = 0
        while done := bus.handle(c.SendWebhooks("bench", limit=opts.batch)):
            sent += done
        send_s = time.perf_counter() - started
        engine.dispose()
        drop()
    server.shutdown()
    where = "PostgreSQL" if opts.database_url else "SQLite"
    print(f"{where}, {opts.orders} orders, batches of {opts.batch}")
    print("| step | items | seconds | per second |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| relay (deliveries and notifications written) | {relayed} events | {relay_s:.2f} | "
          f"{relayed / relay_s:.0f} |")
    print(f"| webhooks sent (signed, over HTTP, recorded) | {sent} | {send_s:.2f} | "
          f"{sent / send_s:.0f} |")
    assert sent == relayed == Quiet.received, (sent, relayed, Quiet.received)


if __name__ == "__main__":
    main()
