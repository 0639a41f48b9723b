"""Images a caller sends: checked before anything leaves the machine.

    local file   type by magic bytes (PNG, JPEG, WEBP, GIF; never by extension), SVG refused,
                 at most MAX_IMAGE_BYTES, decoded in full (a truncated file is refused), then
                 optionally scaled down to what the model can use, sent as a base64 data: URL
    URL          http/https only; a host that is or resolves to a private, loopback or
                 link-local address is refused unless it is in `allow_hosts`

Pillow does the decoding and scaling (imported only when an image is at hand).
"""

from __future__ import annotations

import base64
import contextlib
import io
import ipaddress
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from unyo._types._errors import BadInput
from unyo._types._messages import Message

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # the provider's per-image limit
MAX_REQUEST_IMAGE_BYTES = 50 * 1024 * 1024  # and its limit on a request's payload
# A PNG of one colour compresses 400 megapixels into 50 kB: the pixel count is checked before
# decoding. PNG, WEBP and GIF decode in full (4 bytes a pixel at most: 160 MB here); a JPEG is
# decoded at a reduced scale (`draft`), so it may be as large as Pillow's own bomb limit.
MAX_PIXELS = 40_000_000
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)
MIME = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    kind: str  # png | jpeg | gif | webp
    width: int
    height: int
    original: tuple[int, int]  # the size before any downscale

    def data_url(self) -> str:
        return f"data:{MIME[self.kind]};base64,{base64.b64encode(self.data).decode('ascii')}"


def sniff(data: bytes) -> str | None:
    """The image type by its first bytes, or None."""
    for magic, kind in MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _looks_like_svg(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return head.startswith((b"<svg", b"<?xml")) and b"<svg" in data[:4096].lower()


def dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) of an image's bytes without decoding its pixels; None if unreadable."""
    if sniff(data) is None:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with _quiet(), Image.open(io.BytesIO(data)) as img:
            return int(img.width), int(img.height)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def check_image(data: bytes, name: str, max_side: tuple[int, int] | None = None) -> CheckedImage:
    """Check an image's bytes (see the module docstring); `name` is what errors call it."""
    if len(data) > MAX_IMAGE_BYTES:
        raise BadInput(Message("image.too_big", name=name, mib=len(data) / 2**20, limit=MAX_IMAGE_BYTES // 2**20))
    kind = sniff(data)
    if kind is None:
        what = Message("image.svg" if _looks_like_svg(data) else "image.not_raster")
        raise BadInput(Message("image.unsupported", name=name, what=what))
    from PIL import Image, UnidentifiedImageError

    try:
        with _quiet(), Image.open(io.BytesIO(data)) as img:
            original = (int(img.width), int(img.height))
            if getattr(img, "is_animated", False):
                raise BadInput(Message("image.animated", name=name, kind=kind.upper()))
            if kind != "jpeg" and original[0] * original[1] > MAX_PIXELS:
                raise _too_many_pixels(name, original)
            if kind == "jpeg":  # decode every byte at a reduced scale: 10x faster, as strict, bounded memory
                img.draft("RGB", max_side or (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()  # every byte decoded: a truncated file fails here, not at the provider
            if max_side is None or (img.width <= max_side[0] and img.height <= max_side[1]):
                return CheckedImage(data, kind, *original, original=original)
            return _scaled(img, kind, max_side, original)
    except Image.DecompressionBombError:
        raise _too_many_pixels(name, None) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadInput(Message("image.damaged", name=name, kind=kind.upper(), detail=exc)) from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Pillow's own bomb warning silenced: the pixel count is checked here, with a clear error."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _too_many_pixels(name: str, size: tuple[int, int] | None) -> BadInput:
    what = Message("image.pixels", width=size[0], height=size[1]) if size else Message("image.too_many_pixels")
    return BadInput(Message("image.over_megapixels", name=name, what=what, limit=MAX_PIXELS // 1_000_000))


def _scaled(img: Any, kind: str, size: tuple[int, int], original: tuple[int, int]) -> CheckedImage:
    copy = img.copy()
    copy.thumbnail(size)
    out = io.BytesIO()
    if kind == "jpeg":
        copy.convert("RGB").save(out, "JPEG", quality=90)
    else:
        kind = "png" if kind == "gif" else kind  # an animated GIF is sent as its first frame
        copy.save(out, kind.upper())
    return CheckedImage(out.getvalue(), kind, int(copy.width), int(copy.height), original)


def read_image_file(path: str | Path) -> bytes:
    """A local image file's bytes, refusing an oversized one before reading it."""
    import stat

    p = Path(path)
    try:
        info = p.stat()
        if not stat.S_ISREG(info.st_mode):  # a device (/dev/zero), a FIFO: reading it may never end
            raise BadInput(Message("image.not_regular", path=p))
        if info.st_size > MAX_IMAGE_BYTES:
            raise BadInput(Message("image.too_big", name=p, mib=info.st_size / 2**20, limit=MAX_IMAGE_BYTES // 2**20))
        with p.open("rb") as f:
            data = f.read(MAX_IMAGE_BYTES + 1)  # a file that grew since: still bounded
        if len(data) > MAX_IMAGE_BYTES:
            raise BadInput(Message("image.over_limit", path=p, limit=MAX_IMAGE_BYTES // 2**20))
        return data
    except FileNotFoundError:
        raise BadInput(Message("image.no_such_file", path=p)) from None
    except IsADirectoryError:
        raise BadInput(Message("image.directory", path=p)) from None


def is_url(value: str) -> bool:
    return "://" in value[:16]


def check_url(url: str, allow_hosts: Iterable[str] = ()) -> str:
    """An image URL the provider may fetch: http(s), and no private address unless allowed."""
    if "\\" in url or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        # WHATWG parsers (the fetcher's) read `\` as `/` and drop tabs: `http://127.0.0.1\@example.com/`
        # is example.com to Python and 127.0.0.1 to them
        raise BadInput(Message("image.url_characters", url=_short(url)))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(Message("image.url_scheme", url=_short(url)))
    host = parts.hostname
    if host in set(allow_hosts):
        return url
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except OSError:
            raise BadInput(Message("image.url_unresolved", url=_short(url), host=host)) from None
        addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    private = sorted(str(a) for a in addresses if not all(b.is_global for b in _and_embedded(a)))
    if private:
        raise BadInput(Message("image.url_private", url=_short(url), host=host, addresses=", ".join(private)))
    return url


NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_IN_LOW_BITS = (ipaddress.ip_network("::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))  # compatible, translated


def _and_embedded(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[Any]:
    """The address and any IPv4 address it carries (mapped, 6to4, Teredo, NAT64): a gateway on
    the way turns `64:ff9b::a9fe:a9fe` into 169.254.169.254."""
    found: list[Any] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        found += [a for a in (address.ipv4_mapped, address.sixtofour, (address.teredo or (None, None))[1]) if a]
        if any(address in net for net in (*NAT64, *IPV4_IN_LOW_BITS)):
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _short(url: str) -> str:
    """The URL as errors show it: no user:password, no query (a signed URL's signature is a key)."""
    parts = urlsplit(url)
    if parts.username or parts.password or parts.query:
        host = parts.hostname or ""
        url = parts._replace(netloc=host if parts.port is None else f"{host}:{parts.port}",
                             query="..." if parts.query else "", fragment="").geturl()  # fmt: skip
    return url if len(url) <= 80 else url[:77] + "..."
