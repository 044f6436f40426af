/** Raw bytes over TCP, for what a well-behaved HTTP client never sends: slow, silent or malformed requests. */
import { connect } from 'node:net';

/** Raw bytes to the daemon; resolves with what came back (or '' on a reset) once the socket closes or `waitMs` passes. */
export function raw(port: number, bytes: string | Buffer, waitMs = 3000, localAddress = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let out = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('close', done);
    socket.on('error', done);
    socket.write(bytes);
  });
}
