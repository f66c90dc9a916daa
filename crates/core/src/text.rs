//! Writers for task dumps: numbers and source locations written to any
//! [`fmt::Write`] directly, without `format_args!`. A dump of 100,000 tasks
//! writes about six numbers and two locations per task; through `write!` each
//! costs a trip through `core::fmt`'s argument machinery and padding checks.
//!
//! ```
//! let mut out = String::new();
//! corio_core::text::write_decimal(&mut out, 1234).unwrap();
//! out.push(' ');
//! let here = std::panic::Location::caller();
//! corio_core::text::write_location(&mut out, here).unwrap();
//! assert_eq!(out, format!("1234 {here}"));
//! ```

use std::fmt;
use std::panic::Location;

/// "00" to "99": two digits per division, as `core::fmt` does.
const PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Writes `n` in decimal, as `Display` does.
#[inline]
pub fn write_decimal<W: fmt::Write + ?Sized>(w: &mut W, mut n: u64) -> fmt::Result {
    let mut digits = [0u8; 20]; // u64::MAX has 20 digits
    let mut start = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        start -= 1;
        digits[start] = b'0' + n as u8;
    }
    // SAFETY: `digits[start..]` holds only ASCII digits, which are valid UTF-8.
    let text = unsafe { std::str::from_utf8_unchecked(&digits[start..]) };
    w.write_str(text)
}

/// Writes `loc` as its `Display` does: `file:line:column`.
#[inline]
pub fn write_location<W: fmt::Write + ?Sized>(w: &mut W, loc: &Location<'_>) -> fmt::Result {
    w.write_str(loc.file())?;
    w.write_char(':')?;
    write_decimal(w, loc.line().into())?;
    w.write_char(':')?;
    write_decimal(w, loc.column().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_match_display() {
        for n in [0, 1, 9, 10, 99, 100, 12345, u64::from(u32::MAX), u64::MAX] {
            let mut s = String::new();
            write_decimal(&mut s, n).unwrap();
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn locations_match_display() {
        let loc = Location::caller();
        let mut s = String::new();
        write_location(&mut s, loc).unwrap();
        assert_eq!(s, loc.to_string());
    }
}
