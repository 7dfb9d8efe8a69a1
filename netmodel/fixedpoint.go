package netmodel

// Fixed-point helpers for Dist.Sample. Everything here is integer
// arithmetic (math/bits.Mul64 and shifts), so results are bit-identical on
// every architecture: no floating point, no FMA, no assembly-vs-Go math
// library differences.
//
// Formats:
//
//   - Q32.32: a 64-bit integer with 32 fraction bits; the interface of
//     log2Fixed and exp2Fixed and the exponent format used by Sample.
//   - Q2.62: an unsigned 64-bit integer with 62 fraction bits (values in
//     [0, 4)); the internal format of mantissas, tables and coefficients.
//
// Method. log2: normalise x to a mantissa m in [1, 2); pick i from the top 6
// fraction bits of m; multiply by a tabulated reciprocal r_i >= 64/(64+i) so
// that y = m*r_i lies in [1, 1+1/64]; then log2(m) = log2(1/r_i) + log2(y),
// with log2(y) = log2(1+t) from its Taylor series to t^5 (truncation error
// below t^6/(6 ln 2) < 2^-38). exp2: split the fraction f into its top 6 bits
// i and a remainder t < 1/64; 2^f = 2^(i/64) * 2^t, with 2^t from the Taylor
// series of e^(t ln 2) to t^5 (truncation error below 2^-48).
//
// Precision. The Q2.62 cores (log2Mant, exp2Frac) are accurate to about
// 2^-37 absolute (log2) and 2^-47 relative (exp2); truncation of each Q2.62
// product adds at most a few units of 2^-62. The Q32.32 results are rounded
// to nearest, so log2Fixed is within 2^-33 + 2^-37 (1.2e-10) of log2(x), and
// exp2Fixed within 1e-9 relative of 2^x wherever the result is at least 1
// (smaller results are limited by the 2^-32 resolution of Q32.32). Sample's
// exponent is Q32.32, so a sample's relative error from the exact formula is
// below about 1e-9 plus the rounding to whole nanoseconds.
//
// The constants were computed once with Python's decimal module at 80
// significant digits and pasted here:
//
//	from decimal import Decimal as D, getcontext, ROUND_HALF_EVEN, ROUND_CEILING
//	getcontext().prec = 80
//	ONE, LN2 = D(2)**62, D(2).ln()
//	q62 = lambda x: int((x*ONE).to_integral_value(ROUND_HALF_EVEN))
//	log2Recip    = [int((ONE*64/D(64+i)).to_integral_value(ROUND_CEILING)) for i in range(64)]
//	log2RecipLog = [q62((ONE/r).ln()/LN2) for r in log2Recip]   # exact log2(1/r_i), rounded
//	exp2Table    = [q62(D(2)**(D(i)/64)) for i in range(64)]
//	log2Ck       = q62(1/(k*LN2))                     # k = 1..5
//	exp2Ck       = q62(LN2**k/math.factorial(k))      # k = 1..5
//	log2E        = q62(1/LN2)

import (
	"math"
	"math/bits"
)

const (
	one32        = 1 << 32 // 1.0 in Q32.32
	one62 uint64 = 1 << 62 // 1.0 in Q2.62
)

// Series coefficients, Q2.62.
const (
	log2C1 uint64 = 0x5c551d94ae0bf85e // 1/(1 ln 2)
	log2C2 uint64 = 0x2e2a8eca5705fc2f // 1/(2 ln 2)
	log2C3 uint64 = 0x1ec709dc3a03fd75 // 1/(3 ln 2)
	log2C4 uint64 = 0x171547652b82fe17 // 1/(4 ln 2)
	log2C5 uint64 = 0x12776c50ef9bfe79 // 1/(5 ln 2)
	exp2C1 uint64 = 0x2c5c85fdf473de6b // ln(2)^1 / 1!
	exp2C2 uint64 = 0x0f5fdeffc162c754 // ln(2)^2 / 2!
	exp2C3 uint64 = 0x038d611ae09417f1 // ln(2)^3 / 3!
	exp2C4 uint64 = 0x009d955b7dd273b9 // ln(2)^4 / 4!
	exp2C5 uint64 = 0x0015d87fe78a6731 // ln(2)^5 / 5!
	log2E  uint64 = 0x5c551d94ae0bf85e // log2(e) = 1/ln(2)
)

// mul62 returns a*b for Q2.62 operands, truncated to Q2.62. The product must
// be below 4.
func mul62(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi<<2 | lo>>62
}

// log2Fixed returns log2(x) for x > 0 in Q32.32, as Q32.32 rounded to
// nearest: a value in [-32, 32) within 2^-32 of the true logarithm. All 64
// bits of x contribute (x is normalised before the table lookup). For x == 0
// it returns math.MinInt64.
func log2Fixed(x uint64) int64 {
	if x == 0 {
		return math.MinInt64
	}
	n := bits.Len64(x) - 1          // floor(log2(x as an integer)), 0..63
	frac := log2Mant(x << (63 - n)) // Q2.62 in [0, 1]
	return int64(n-32)<<32 + int64((frac+1<<29)>>30)
}

// log2Mant returns log2(m / 2^63) in Q2.62 for a mantissa m with its top bit
// set (m / 2^63 in [1, 2)).
func log2Mant(m uint64) uint64 {
	i := (m >> 57) & 63
	// m>>1 is the mantissa in Q2.62. It is at least (64+i)/64 and the
	// reciprocal is rounded up, so y >= 1 exactly and t >= 0.
	y := mul62(m>>1, log2Recip[i])
	t := y - one62 // < 1/64 (plus a few units of 2^-62)
	// log2(1+t) = t*(c1 - t*(c2 - t*(c3 - t*(c4 - t*c5)))); every bracket
	// stays positive for t < 1/64, so unsigned arithmetic suffices.
	s := log2C5
	s = log2C4 - mul62(t, s)
	s = log2C3 - mul62(t, s)
	s = log2C2 - mul62(t, s)
	s = log2C1 - mul62(t, s)
	return log2RecipLog[i] + mul62(t, s)
}

// exp2Frac returns 2^(f / 2^32) in Q2.62, a value in [1, 2).
func exp2Frac(f uint32) uint64 {
	i := f >> 26
	t := uint64(f&(1<<26-1)) << 30 // the remainder in Q2.62, < 1/64
	p := exp2C5
	p = exp2C4 + mul62(t, p)
	p = exp2C3 + mul62(t, p)
	p = exp2C2 + mul62(t, p)
	p = exp2C1 + mul62(t, p)
	p = one62 + mul62(t, p) // 2^t
	return mul62(exp2Table[i], p)
}

// mulExp2 returns a * 2^e for an exponent e in Q32.32, rounded to the
// nearest integer (halves up). ok is false, and the result meaningless, when
// it does not fit in a uint64.
func mulExp2(a uint64, e int64) (v uint64, ok bool) {
	if a == 0 {
		return 0, true
	}
	k := e >> 32 // floor of the exponent
	if k >= 64 {
		return 0, false // a >= 1 and 2^(e-k) >= 1
	}
	if k < -65 {
		return 0, true // a * 2^(e-k) < 2^65, so the value is below 1/2
	}
	hi, lo := bits.Mul64(a, exp2Frac(uint32(e))) // a * 2^(e-k) * 2^62, < 2^127
	// The value is (hi:lo) * 2^(k-62).
	if k >= 62 { // shift left by 0 or 1
		ls := uint(k - 62)
		if hi != 0 || (ls == 1 && lo>>63 != 0) {
			return 0, false
		}
		return lo << ls, true
	}
	s := uint(62 - k) // right shift, in [1, 127]
	// Round to nearest: add half of the unit being dropped. The sum stays
	// below 2^128.
	if s <= 64 {
		var c uint64
		lo, c = bits.Add64(lo, 1<<(s-1), 0)
		hi += c
	} else {
		hi += 1 << (s - 65)
	}
	if s >= 64 {
		return hi >> (s - 64), true
	}
	if hi>>s != 0 {
		return 0, false
	}
	return hi<<(64-s) | lo>>s, true
}

// exp2Fixed returns 2^x for x in Q32.32, as Q32.32 rounded to nearest,
// saturating at math.MaxUint64 (x >= 32) and reaching 0 below x = -33.
func exp2Fixed(x int64) uint64 {
	v, ok := mulExp2(one32, x)
	if !ok {
		return math.MaxUint64
	}
	return v
}

// Lookup tables, Q2.62 (see the file comment for how they were computed).

// log2Recip[i] = ceil(2^62 * 64/(64+i)): reciprocals of the table points,
// rounded up.
var log2Recip = [64]uint64{
	0x4000000000000000, 0x3f03f03f03f03f04, 0x3e0f83e0f83e0f84, 0x3d226357e16ece55,
	0x3c3c3c3c3c3c3c3d, 0x3b5cc0ed7303b5cd, 0x3a83a83a83a83a84, 0x39b0ad12073615a3,
	0x38e38e38e38e38e4, 0x381c0e070381c0e1, 0x3759f22983759f23, 0x369d0369d0369d04,
	0x35e50d79435e50d8, 0x3531dec0d4c77b04, 0x3483483483483484, 0x33d91d2a2067b23b,
	0x3333333333333334, 0x329161f9add3c0cb, 0x31f3831f3831f384, 0x3159721ed7e75347,
	0x30c30c30c30c30c4, 0x3030303030303031, 0x2fa0be82fa0be830, 0x2f149902f1499030,
	0x2e8ba2e8ba2e8ba3, 0x2e05c0b81702e05d, 0x2d82d82d82d82d83, 0x2d02d02d02d02d03,
	0x2c8590b21642c85a, 0x2c0b02c0b02c0b03, 0x2b9310572620ae4d, 0x2b1da46102b1da47,
	0x2aaaaaaaaaaaaaab, 0x2a3a0fd5c5f02a3b, 0x29cbc14e5e0a72f1, 0x295fad40a57eb503,
	0x28f5c28f5c28f5c3, 0x288df0cac5b3f5dd, 0x2828282828282829, 0x27c45979c95204f9,
	0x2762762762762763, 0x2702702702702703, 0x26a439f656f1826b, 0x2647c69456217ece,
	0x25ed097b425ed098, 0x2593f69b02593f6a, 0x253c8253c8253c83, 0x24e6a171024e6a18,
	0x2492492492492493, 0x243f6f0243f6f025, 0x23ee08fb823ee090, 0x239e0d5b450239e1,
	0x234f72c234f72c24, 0x2302302302302303, 0x22b63cbeea4e1a09, 0x226b90226b90226c,
	0x2222222222222223, 0x21d9ead7cd391fbd, 0x2192e29f79b47583, 0x214d0214d0214d03,
	0x2108421084210843, 0x20c49ba5e353f7cf, 0x2082082082082083, 0x2040810204081021,
}

// log2RecipLog[i] = log2(2^62 / log2Recip[i]) in Q2.62: the exact logarithm of
// the rounded reciprocal's inverse.
var log2RecipLog = [64]uint64{
	0x0000000000000000, 0x016e79685c2d2299, 0x02d75a6eb1dfb0e6, 0x043ace27e8a7e6ac,
	0x0598fdbeb244c59e, 0x06f210902b6aee97, 0x08462c466d3cf1cb, 0x099574f13c570d0e,
	0x0ae00d1cfdeb43cf, 0x0c2615e81781d97e, 0x0d67af16da7649f7, 0x0ea4f726192cb7e3,
	0x0fde0b5c81340511, 0x111307dad30b75ca, 0x124407ab0e073981, 0x137124cea4cdecd8,
	0x149a784bcd1b8afd, 0x15c01a39fbd6879e, 0x16e221cd9d0cde56, 0x1800a563161c5433,
	0x191bba891f1708b3, 0x1a33760a7f60509c, 0x1b47ebf73882a0a3, 0x1c592fad295b567d,
	0x1d6753e032ea0efe, 0x1e726aa1e754d20a, 0x1f7a8568cb06cece, 0x207fb5172f32fe67,
	0x21820a01ac754caf, 0x228193f543ca873c, 0x237e623d2ba01bc6, 0x247883a84e4f900e,
	0x2570068e7ef5a1e7, 0x2664f8d569394d8f, 0x275767f54042cd98, 0x284760fd30d552cd,
	0x2934f0979a3715fc, 0x2a20230e1151f1bb, 0x2b09044d313a6785, 0x2bef9fe83c135d71,
	0x2cd4011c8f119799, 0x2db632d4ec3293b2, 0x2e963fac9c0ea78c, 0x2f7431f26a05c813,
	0x305013ab7ce0e5b7, 0x3129ee960ddf1680, 0x3201cc2c000599fb, 0x32d7b5a5596bebde,
	0x33abb3faa02166cb, 0x347dcfe71c303d9f, 0x354e11eb0029a6f9, 0x361c824d7990d7af,
	0x36e9291eaa65b495, 0x37b40e398cfcdb68, 0x387d3945c340aa66, 0x3944b1b952662c6b,
	0x3a0a7eda4c112ce4, 0x3acea7c065d41dfb, 0x3b9133567fead8ba, 0x3c52285c1c02803d,
	0x3d118d66c4d4e552, 0x3dcf68e36752a0fa, 0x3e8bc1179e0caa9a, 0x3f469c22ef8466c3,
}

// exp2Table[i] = 2^(i/64) in Q2.62.
var exp2Table = [64]uint64{
	0x4000000000000000, 0x40b268f9de0183ba, 0x4166c34c5615d0ec, 0x421d1461d66f2023,
	0x42d561b3e6243d8a, 0x438fb0cb4f468808, 0x444c0740496d4294, 0x450a6abaa4b77ecd,
	0x45cae0f1f545eb73, 0x468d6fadbf2dd4f3, 0x47521cc5a2e6a9e0, 0x4818ee218a3358ee,
	0x48e1e9b9d588e19b, 0x49ad159789f37496, 0x4a7a77d47f7b84b1, 0x4b4a169b900c2d00,
	0x4c1bf828c6dc54b8, 0x4cf022c9905bfd32, 0x4dc69cdceaa72a9c, 0x4e9f6cd3967fdba8,
	0x4f7a993048d088d7, 0x50582887dcb8a7e1, 0x513821818624b40c, 0x521a8ad704f3404f,
	0x52ff6b54d8a89c75, 0x53e6c9da74b29ab5, 0x54d0ad5a753e077c, 0x55bd1cdad49f699c,
	0x56ac1f752150a563, 0x579dbc56b48521ba, 0x5891fac0e95612c8, 0x5988e20954889245,
	0x5a827999fcef3242, 0x5b7ec8f19468bbc9, 0x5c7dd7a3b17dcf75, 0x5d7fad59099f22fe,
	0x5e8451cfac061b5f, 0x5f8bccdb3d398841, 0x6096266533384a2b, 0x61a3666d124bb204,
	0x62b39508aa836d6f, 0x63c6ba6455dcd8ae, 0x64dcdec3371793d1, 0x65f60a7f79393e2e,
	0x6712460a8fc24072, 0x683199ed779592ca, 0x69540ec8f895722d, 0x6a79ad55e7f6fd10,
	0x6ba27e656b4eb57a, 0x6cce8ae13c57ebdb, 0x6dfddbcbed791bab, 0x6f307a412f074892,
	0x70666f76154a7089, 0x719fc4b95f452d29, 0x72dc8373be41a454, 0x741cb5281e25ee34,
	0x75606373ee921c97, 0x76a7980f6cca15c2, 0x77f25ccdee6d7ae6, 0x7940bb9e2cffd89d,
	0x7a92be8a92436616, 0x7be86fb985689ddc, 0x7d41d96db915019d, 0x7e9f06067a4360ba,
}
