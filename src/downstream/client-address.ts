// The client's address as text: a v4 client on a dual-stack socket shows as '::ffff:10.0.0.1',
// which policies (ipBlocks), x-forwarded-for and logs want as '10.0.0.1'.

export function clientAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.indexOf('.') > 0 ? address.slice(7) : address;
}
