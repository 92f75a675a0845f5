"""What we can learn from an uploaded clip before any provider hears it.

Voice notes are priced by the minute, so their length must be known before the transcriber is
called; that is why only WAV is accepted: its header says the sample rate and frame size, and
the standard library reads it without decoding anything.
"""

from __future__ import annotations

import io
import wave


def wav_duration_seconds(audio: bytes) -> float:
    """The length of a WAV clip in seconds; ValueError for anything that is not a readable WAV.

    The frames are counted in the data actually present, not taken from the header's claim:
    a truncated upload or a streaming writer's placeholder size (0xFFFFFFFF) must neither
    inflate the price nor get a short clip refused as too long.
    """
    if not audio:
        raise ValueError("the audio is empty; a WAV file is expected")
    try:
        with wave.open(io.BytesIO(audio), "rb") as reader:
            rate = reader.getframerate()
            frame_size = reader.getnchannels() * reader.getsampwidth()
            data = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as error:
        detail = str(error) or "it ends too early"
        raise ValueError(f"the audio is not a readable WAV file: {detail}") from error
    if rate <= 0:
        raise ValueError("the WAV file declares a frame rate of 0")
    if frame_size <= 0:
        raise ValueError("the WAV file declares no channels or an empty sample width")
    return (len(data) // frame_size) / rate
