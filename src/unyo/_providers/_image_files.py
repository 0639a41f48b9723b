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
        raise BadInput(f"{name}: {len(data) / 2**20:.1f} MiB is over the {MAX_IMAGE_BYTES // 2**20} MiB image limit")
    kind = sniff(data)
    if kind is None:
        what = "an SVG (vector) image" if _looks_like_svg(data) else "not a PNG, JPEG, WEBP or GIF image"
        raise BadInput(f"{name}: {what}; convert it to PNG or JPEG (the type is read from the bytes, not the name)")
    from PIL import Image, UnidentifiedImageError

    try:
        with _quiet(), Image.open(io.BytesIO(data)) as img:
            original = (int(img.width), int(img.height))
            if getattr(img, "is_animated", False):
                raise BadInput(f"{name}: an animated {kind.upper()}; the provider takes still images only")
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
        raise BadInput(f"{name}: a damaged or truncated {kind.upper()} image ({exc})") from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Pillow's own bomb warning silenced: the pixel count is checked here, with a clear error."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _too_many_pixels(name: str, size: tuple[int, int] | None) -> BadInput:
    what = f"{size[0]}x{size[1]} pixels" if size else "too many pixels"
    return BadInput(
        f"{name}: {what}, over the {MAX_PIXELS // 1_000_000} megapixels unyo decodes (a decompression bomb, or a "
        "scan far larger than the model can use); scale it down first"
    )


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
            raise BadInput(f"{p}: not a regular file (a device, pipe or socket); give an image file")
        if info.st_size > MAX_IMAGE_BYTES:
            raise BadInput(
                f"{p}: {info.st_size / 2**20:.1f} MiB is over the {MAX_IMAGE_BYTES // 2**20} MiB image limit"
            )
        with p.open("rb") as f:
            data = f.read(MAX_IMAGE_BYTES + 1)  # a file that grew since: still bounded
        if len(data) > MAX_IMAGE_BYTES:
            raise BadInput(f"{p}: over the {MAX_IMAGE_BYTES // 2**20} MiB image limit")
        return data
    except FileNotFoundError:
        raise BadInput(f"{p}: no such image file") from None
    except IsADirectoryError:
        raise BadInput(f"{p}: is a directory, not an image file") from None


def is_url(value: str) -> bool:
    return "://" in value[:16]


def check_url(url: str, allow_hosts: Iterable[str] = ()) -> str:
    """An image URL the provider may fetch: http(s), and no private address unless allowed."""
    if "\\" in url or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        # WHATWG parsers (the fetcher's) read `\` as `/` and drop tabs: `http://127.0.0.1\@example.com/`
        # is example.com to Python and 127.0.0.1 to them
        raise BadInput(f"{_short(url)}: an image URL may not hold a backslash, a space or a control character")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{_short(url)}: image URLs must be http:// or https:// with a host")
    host = parts.hostname
    if host in set(allow_hosts):
        return url
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except OSError:
            raise BadInput(f"{_short(url)}: the host {host} does not resolve") from None
        addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    private = sorted(str(a) for a in addresses if not all(b.is_global for b in _and_embedded(a)))
    if private:
        raise BadInput(
            f"{_short(url)}: {host} is a private, loopback or link-local address ({', '.join(private)}); "
            "refused so a request cannot reach into a private network. Allow it explicitly "
            "(allow_hosts / image_hosts) if this is intended"
        )
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
