"""Zip members read with their sizes checked before anything is inflated or allocated.

A zip's central directory states each member's sizes; a crafted file can claim anything.
:class:`ZipBudget` charges every member read from one file against what the file can hold:
stored members together no larger than the file, compressed members together no larger than
a cap (a zip bomb inflates far beyond its file). :func:`read_exactly` fills a buffer from a
stream and refuses a short one.
"""
import zipfile

from wham_ros.assets.file_errors import Malformed


class ZipBudget:
    """Sizes of the members read from one zip file, checked as each is charged.

    Args:
        file_size: bytes of the zip file.
        max_inflated: bytes its compressed members may inflate to, in total.
    """

    def __init__(self, file_size: int, max_inflated: int):
        self.file_size, self.max_inflated = file_size, max_inflated
        self.stored = self.inflated = 0

    def charge(self, info: zipfile.ZipInfo) -> None:
        """Count one member before it is read.

        Raises:
            Malformed: stored members larger than the file, compressed members inflating
                beyond ``max_inflated``, or a compression other than stored / deflated.
        """
        if info.compress_type == zipfile.ZIP_STORED:
            self.stored += info.file_size
            if info.compress_size != info.file_size or self.stored > self.file_size:
                raise Malformed(f"{info.filename}: stored members larger than the file")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            self.inflated += info.file_size
            if self.inflated > self.max_inflated:
                raise Malformed(f"{info.filename}: compressed members inflate to more than "
                                f"{self.max_inflated} bytes (a zip bomb?)")
        else:
            raise Malformed(f"{info.filename}: unsupported zip compression "
                            f"{info.compress_type}")


def read_exactly(fh, out, what: str) -> None:
    """Fill ``out`` (a writable buffer) from the stream ``fh``.

    Raises:
        Malformed: the stream ends first (``what`` is truncated).
    """
    view, done = memoryview(out).cast("B"), 0
    while done < len(view):
        n = fh.readinto(view[done:])
        if not n:
            raise Malformed(f"{what} is truncated")
        done += n
