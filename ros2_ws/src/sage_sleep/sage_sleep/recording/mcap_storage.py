# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
rosbags' rosbag2 Writer with an MCAP storage that does not copy message payloads in Python.

rosbags' McapWriter (0.11, pinned) builds every message record in a fresh BytesIO, copies
it into the chunk's BytesIO, copies the chunk out again when closing it, and once more
into the chunk record: four copies of each payload before the file's own write. At the
recording benchmark's load (64 MB/s, mostly 1 MB images) that was the recorder's largest
cost. `ZeroCopyMcapWriter` keeps the pending chunk as a list of (31-byte header, payload)
pieces and writes them straight to the file when the chunk closes (payloads larger than the
file buffer go to the kernel without a Python copy). The bytes on disk are exactly what the
rosbags writer produces (uncompressed chunks, no CRC, the same records in the same order;
tests/sleep checks byte equality), so the rosbags Reader and rosbag2's MCAP plugin (Humble
and later) read the bags as before; the summary, metadata record and metadata.yaml are the
rosbags code's own.

`BagWriter` is rosbags' Writer with this storage and a `write` without the linear search of
the connection list (the segment writer only writes to connections it added).
"""

import struct

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.storage_mcap import McapWriter, PendingChunk

CHUNK_BYTES = 1 << 20     # as rosbags: close the chunk once its records pass 1 MiB
_MESSAGE = struct.Struct('<BQHIQQ')   # opcode 0x05, record length, channel, sequence, 2 times
_CHUNK = struct.Struct('<BQQQQIIQ')   # 0x06, length, start, end, size, crc, '' , records length
_CHUNK_FIXED = 8 + 8 + 8 + 4 + 4 + 8  # chunk record fields before the records (no compression)


class _Pieces:
    """The pending chunk's records as a list of buffers (BytesIO's write/tell, no copying)."""

    __slots__ = ('parts', 'size')

    def __init__(self):
        self.parts = []
        self.size = 0

    def write(self, data):
        self.parts.append(data)
        n = len(data) if not isinstance(data, memoryview) else data.nbytes
        self.size += n
        return n

    def tell(self):
        return self.size


def _new_chunk():
    return PendingChunk(2**63 - 1, 0, _Pieces(), {})


class ZeroCopyMcapWriter(McapWriter):
    """rosbags' MCAP storage writer, writing payloads by reference (uncompressed only)."""

    def __init__(self, path, compression):
        super().__init__(path, compression)
        if self.compression:
            raise ValueError('ZeroCopyMcapWriter writes uncompressed chunks only')
        self.chunk = _new_chunk()

    def write(self, connection, timestamp, data):
        """Add one message record to the pending chunk (data is kept, not copied)."""
        cid = connection.id
        if timestamp < self.message_start_time:
            self.message_start_time = timestamp
        if timestamp > self.message_end_time:
            self.message_end_time = timestamp
        self.channel_stats[cid] += 1
        chunk = self.chunk
        if timestamp < chunk.message_start_time:
            chunk.message_start_time = timestamp
        if timestamp > chunk.message_end_time:
            chunk.message_end_time = timestamp
        pieces = chunk.bio
        offsets = chunk.msgs.get(cid)
        if offsets is None:
            offsets = chunk.msgs[cid] = []
        offsets.append((timestamp, pieces.size))
        size = len(data) if not isinstance(data, memoryview) else data.nbytes
        pieces.parts.append(_MESSAGE.pack(0x05, 22 + size, cid, 0, timestamp, timestamp))
        pieces.parts.append(data)
        pieces.size += _MESSAGE.size + size
        if pieces.size > CHUNK_BYTES:
            self.close_chunk()

    def close_chunk(self):
        """Write the pending chunk, its message indexes, and keep its chunk index."""
        chunk, bio = self.chunk, self.bio
        pieces = chunk.bio
        size = pieces.size
        chunk_start = bio.tell()
        bio.write(_CHUNK.pack(0x06, _CHUNK_FIXED + size, chunk.message_start_time,
                              chunk.message_end_time, size, 0, 0, size))
        for part in pieces.parts:
            bio.write(part)
        chunk_end = bio.tell()

        offsets = []
        position = chunk_end
        for cid, msgs in chunk.msgs.items():
            offsets.append((cid, position))
            flat = [v for pair in msgs for v in pair]
            record = struct.pack(f'<BQHI{len(flat)}Q', 0x07, 2 + 4 + 8 * len(flat), cid,
                                 8 * len(flat), *flat)
            bio.write(record)
            position += len(record)

        index = [struct.pack('<QQQQI', chunk.message_start_time, chunk.message_end_time,
                             chunk_start, chunk_end - chunk_start, 10 * len(offsets))]
        index.extend(struct.pack('<HQ', cid, offset) for cid, offset in offsets)
        index.append(struct.pack('<QIQQ', position - chunk_end, 0, size, size))
        self.chunks.append(_Record(b''.join(index)))
        self.chunk = _new_chunk()


class _Record:
    """A finished record body with the BytesIO methods rosbags' write_record uses."""

    __slots__ = ('data',)

    def __init__(self, data):
        self.data = data

    def tell(self):
        return len(self.data)

    def getbuffer(self):
        return self.data


class BagWriter(Writer):
    """rosbags' rosbag2 Writer whose MCAP storage is ZeroCopyMcapWriter."""

    STORAGE_PLUGINS = {**Writer.STORAGE_PLUGINS, StoragePlugin.MCAP: ZeroCopyMcapWriter}

    def write(self, connection, timestamp, data):
        """Write one message to a connection this writer added (not checked, unlike rosbags)."""
        self.storage.write(connection, timestamp, data)
        self.counts[connection.id] += 1
        if timestamp < self.min_timestamp:
            self.min_timestamp = timestamp
        if timestamp > self.max_timestamp:
            self.max_timestamp = timestamp
