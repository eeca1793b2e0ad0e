// `string_decoder`: the string_decoder package (over the same Buffer).

/** createStringDecoder returns { StringDecoder }. */
export function createStringDecoder() {
  return require('string_decoder/lib/string_decoder.js');
}
