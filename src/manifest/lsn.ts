/** A WAL position written as PostgreSQL writes it (`0/2000028`) as a byte offset into the WAL. */
export function parseLsn(text: string): bigint {
  const [high, low] = text.split('/') as [string, string];
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/** A WAL position as PostgreSQL writes it (`%X/%X`: upper-case hex, no padding). */
export function formatLsn(lsn: bigint): string {
  const hex = (value: bigint): string => value.toString(16).toUpperCase();
  return `${hex(lsn >> 32n)}/${hex(lsn & 0xffff_ffffn)}`;
}

/** The segment file name holding `lsn` on `timeline` (`000000010000000000000002`). */
export function segmentName(timeline: number, lsn: bigint, segmentBytes: number): string {
  const segment = lsn / BigInt(segmentBytes);
  const perId = 0x1_0000_0000n / BigInt(segmentBytes);
  const hex = (value: bigint | number): string => value.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(segment / perId)}${hex(segment % perId)}`;
}
