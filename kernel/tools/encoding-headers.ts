/**
 * What http.fetch shows of a compressed answer's headers: undici's
 * decompress interceptor decodes the body and takes `content-encoding` and
 * `content-length` off the headers (they describe bytes the caller no
 * longer gets), while the platform's fetch keeps them as the server sent
 * them. An interceptor composed inside the decompress one (nearer the
 * socket) sees the headers as they came and hands those two to the caller.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { type Dispatcher, DecoratorHandler } from 'undici';

/** Where a request's options carry the function that receives the answer's compression headers as sent. */
export const SENT_ENCODING = Symbol('http.fetch sent encoding');

/** The compression headers of an answer as the server sent them. */
export type EncodingHeaders = Pick<IncomingHttpHeaders, 'content-encoding' | 'content-length'>;

/** Request options with the receiver of the answer's compression headers (see SENT_ENCODING). */
export type WithSentEncoding = { [SENT_ENCODING]?: (headers: EncodingHeaders) => void };

/** undici's DecoratorHandler forwards every handler method to the one it wraps; its typings leave the methods out. */
interface Decorating extends Dispatcher.DispatchHandler {
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void;
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void;
}
export const Decorator = DecoratorHandler as unknown as new (handler: Dispatcher.DispatchHandler) => Decorating;

class SentEncoding extends Decorator {
  private readonly receive: (headers: EncodingHeaders) => void;

  constructor(handler: Dispatcher.DispatchHandler, receive: (headers: EncodingHeaders) => void) {
    super(handler);
    this.receive = receive;
  }

  override onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    const encoding = headers['content-encoding'];
    if (encoding !== undefined) this.receive({ 'content-encoding': encoding, ...(headers['content-length'] !== undefined ? { 'content-length': headers['content-length'] } : {}) });
    super.onResponseStart(controller, statusCode, headers, statusMessage);
  }
}

/** sentEncoding is the interceptor: compose it before (inside) interceptors.decompress. */
export function sentEncoding(): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    const receive = (options as Dispatcher.DispatchOptions & WithSentEncoding)[SENT_ENCODING];
    return dispatch(options, receive === undefined ? handler : new SentEncoding(handler, receive));
  };
}
