"""The real consumer of rotated Fernet keys: Python's cryptography.fernet.

Reads JSON from stdin: {"keys": [key, ...], "checks": [{"encrypt": "k1,k2",
"decrypt": "k2,k1"}, ...]}. Every key must be accepted by Fernet; for each check a
token is encrypted with MultiFernet over the first comma list and decrypted with
MultiFernet over the second. Writes {"keys": n, "results": [true|false, ...]}:
whether each token decrypted.
"""
import json
import sys

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def multi(csv):
    return MultiFernet([Fernet(k.encode()) for k in csv.split(",")])


def main():
    req = json.load(sys.stdin)
    for k in req["keys"]:
        Fernet(k.encode())
    results = []
    for c in req["checks"]:
        token = multi(c["encrypt"]).encrypt(b"a field encrypted before the rotation")
        try:
            ok = multi(c["decrypt"]).decrypt(token) == b"a field encrypted before the rotation"
        except InvalidToken:
            ok = False
        results.append(ok)
    json.dump({"keys": len(req["keys"]), "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
