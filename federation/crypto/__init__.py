"""Cryptography without Flask: canonical bytes, Ed25519, keys at rest, secret hashing."""
