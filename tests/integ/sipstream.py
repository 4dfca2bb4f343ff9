"""SIP over a TCP stream for the scripted test peers: messages are framed by
their Content-Length (RFC 3261 18.3)."""
import re


async def read_messages(reader, writer, on_message):
    """Call on_message(text) for each message until EOF; closes writer."""
    buf = b""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            buf += data
            while b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                if len(rest) < n:
                    break
                buf = rest[n:]
                on_message((head + b"\r\n\r\n" + rest[:n]).decode("utf-8", "replace"))
    except ConnectionError:
        return
    finally:
        writer.close()
