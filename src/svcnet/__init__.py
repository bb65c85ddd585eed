"""svcnet: Kubernetes Service networking in Python that really moves packets.

Layers (see docs/design.md): api -> store -> apiserver/client -> controllers, kubelet,
proxy, dns, cloudlb -> cli. Arrows point one way; nothing in ``api`` does I/O.
"""

__version__ = "0.1.0"
