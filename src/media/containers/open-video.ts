/**
 * The container layer's one entry point: a video file in, its H.264/H.265 NAL
 * units out, streaming, with memory bounded whatever the file's size.
 *
 * The container is told by its first bytes (an ISO BMFF `ftyp` box, the EBML
 * magic, else a raw Annex B stream); MP4 and MKV name their codec, an Annex B
 * stream is told by the caller, by its file extension, or by the headers of
 * its first NAL units. Every file is treated as hostile: whatever is wrong
 * with it surfaces as a MediaFormatError, never as a hang or a huge allocation.
 */
import { extname } from 'node:path';
import { annexBNalUnits, sniffAnnexBCodec } from './annexb.ts';
import { type ContainerStream, FileReader, type NalUnit, type VideoCodec } from './byte-reader.ts';
import { openMkv } from './mkv.ts';
import { openMp4 } from './mp4.ts';

export { MediaFormatError, type NalUnit, type VideoCodec } from './byte-reader.ts';
import { MediaFormatError } from './byte-reader.ts';

export type VideoContainer = 'mp4' | 'mkv' | 'annexb';

export interface VideoSource {
  container: VideoContainer;
  codec: VideoCodec;
  /** File size in bytes, and how far reading has got (for a progress bar). */
  size: number;
  bytesRead(): number;
  nalUnits(): AsyncGenerator<NalUnit>;
  close(): Promise<void>;
}

export interface OpenVideoOptions {
  /** The codec of an Annex B stream, when the caller knows it (MP4 and MKV say theirs). */
  codecHint?: VideoCodec;
  /** @internal Bytes per file read (default 1 MiB); tests make it tiny to exercise chunk boundaries. */
  chunkBytes?: number;
}

const EXTENSIONS: Record<string, VideoCodec> = { '.h264': 'h264', '.264': 'h264', '.avc': 'h264', '.h265': 'h265', '.265': 'h265', '.hevc': 'h265' };

export async function openVideo(path: string, options: OpenVideoOptions = {}): Promise<VideoSource> {
  const reader = await FileReader.open(path, options.chunkBytes);
  let container: VideoContainer;
  let stream: ContainerStream;
  try {
    const head = await reader.read(0, Math.min(8, reader.size), 'file header');
    if (head.length === 8 && String.fromCharCode(...head.subarray(4, 8)) === 'ftyp') {
      container = 'mp4';
      stream = await openMp4(reader);
    } else if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) {
      container = 'mkv';
      stream = await openMkv(reader);
    } else {
      container = 'annexb';
      const codec = options.codecHint ?? EXTENSIONS[extname(path).toLowerCase()] ?? (await sniffAnnexBCodec(reader));
      if (!codec) throw new MediaFormatError('unsupported codec: not MP4 or MKV, and the first NAL units look like neither H.264 nor H.265 Annex B', 0);
      stream = { codec, nalUnits: () => annexBNalUnits(reader) };
    }
  } catch (err) {
    await reader.close();
    throw err;
  }
  let closed = false;
  return {
    container,
    codec: stream.codec,
    size: reader.size,
    bytesRead: () => reader.bytesRead(),
    nalUnits: () => stream.nalUnits(),
    close: async () => {
      if (closed) return;
      closed = true;
      await reader.close();
    },
  };
}
