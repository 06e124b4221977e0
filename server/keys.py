"""CurveZMQ keys for serving beyond loopback (pyzmq's zmq.auth).

Layout of a curve directory:

    DIR/server.key, DIR/server.key_secret        the server's key pair (give clients server.key)
    DIR/authorized_clients/*.key                 public keys of the clients allowed in
    DIR/clients/NAME.key, NAME.key_secret        key pairs made by `keys --client NAME` (hand out)

`python -m server keys --curve-dir DIR [--client NAME ...]` creates what is missing.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

SERVER_SECRET = "server.key_secret"
AUTHORIZED = "authorized_clients"


def configure_server_curve(context: zmq.Context, sock: zmq.Socket, curve_dir: Path) -> ThreadAuthenticator:
    """Make `sock` a CURVE server that only admits clients whose public key is in
    curve_dir/authorized_clients. Returns the running authenticator (stop it on shutdown)."""
    secret_file, authorized = Path(curve_dir) / SERVER_SECRET, Path(curve_dir) / AUTHORIZED
    if not secret_file.is_file() or not authorized.is_dir():
        raise ValueError(f"{curve_dir} needs {SERVER_SECRET} and {AUTHORIZED}/; create them with "
                         f"`python -m server keys --curve-dir {curve_dir} --client NAME`")
    public, secret = zmq.auth.load_certificate(secret_file)
    if secret is None:
        raise ValueError(f"{secret_file} holds no secret key")
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain="*", location=str(authorized))
    sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True
    return auth


def create_keys(curve_dir: Path, clients: list[str]) -> None:
    """Create the server key pair (if missing) and one authorized key pair per client name."""
    curve_dir = Path(curve_dir)
    for sub in ("", AUTHORIZED, "clients"):
        (curve_dir / sub).mkdir(parents=True, exist_ok=True)
    if not (curve_dir / SERVER_SECRET).exists():
        zmq.auth.create_certificates(curve_dir, "server")
    for name in clients:
        public, _ = zmq.auth.create_certificates(curve_dir / "clients", name)
        shutil.copy(public, curve_dir / AUTHORIZED / f"{name}.key")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server keys", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curve-dir", type=Path, required=True)
    parser.add_argument("--client", action="append", default=[], help="name of a client key pair to create")
    args = parser.parse_args(argv)
    create_keys(args.curve_dir, args.client)
    print(f"server public key: {args.curve_dir / 'server.key'}; client keys in {args.curve_dir / 'clients'}")
    return 0
