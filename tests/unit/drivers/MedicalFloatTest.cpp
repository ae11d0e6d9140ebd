#include <catch2/catch.hpp>

#include "drivers/common/MedicalFloat.h"

using namespace rpm;
using namespace rpm::drivers;

TEST_CASE("SFLOAT keeps the exponent (reference §2.1 table)", "[unit][sfloat]") {
  struct V { std::uint16_t word; const char* text; };
  for (V v : {V{0x0002, "2"}, V{0xF014, "2.0"}, V{0xE0C8, "2.00"}, V{0x1002, "20"}, V{0x2002, "200"},
              V{0x04D2, "1234"}, V{0x0B2E, "-1234"}, V{0xF065, "10.1"}, V{0xB05F, "0.00095"}, V{0xC03E, "0.0062"},
              V{0xF3E8, "100.0"}, V{0xFFFE, "-0.2"}}) {
    INFO(v.word);
    Quantity q = decodeSfloat(v.word, "mg/dL");
    CHECK(q.special == SpecialValue::kNone);
    CHECK(q.value.toString() == v.text);
    std::uint16_t back = 0;
    REQUIRE(encodeSfloat(q.value, back));
    CHECK(back == v.word);
  }
}

TEST_CASE("SFLOAT special values are exactly the five reserved words", "[unit][sfloat]") {
  CHECK(decodeSfloat(0x07FF, "").special == SpecialValue::kNaN);
  CHECK(decodeSfloat(0x0800, "").special == SpecialValue::kNRes);
  CHECK(decodeSfloat(0x07FE, "").special == SpecialValue::kPositiveInfinity);
  CHECK(decodeSfloat(0x0802, "").special == SpecialValue::kNegativeInfinity);
  CHECK(decodeSfloat(0x0801, "").special == SpecialValue::kReserved);
  // The same mantissas with a non-zero exponent are ordinary numbers.
  CHECK(decodeSfloat(0x17FF, "").special == SpecialValue::kNone);
  CHECK(decodeSfloat(0x17FF, "").value.toString() == "20470");
}

TEST_CASE("FLOAT keeps the exponent and its specials", "[unit][float]") {
  CHECK(decodeFloat(0x00000002, "Cel").value.toString() == "2");
  CHECK(decodeFloat(0xFF000014, "Cel").value.toString() == "2.0");
  CHECK(decodeFloat(0xFE0000C8, "Cel").value.toString() == "2.00");
  CHECK(decodeFloat(0x01000002, "Cel").value.toString() == "20");
  CHECK(decodeFloat(0x00FFFB2E, "Cel").value.toString() == "-1234");
  CHECK(decodeFloat(0xFE12D687, "Cel").value.toString() == "12345.67");
  CHECK(decodeFloat(0xFF000172, "Cel").value.toString() == "37.0");
  CHECK(decodeFloat(0xFE000EB0, "Cel").value.toString() == "37.60");
  CHECK(decodeFloat(0x007FFFFF, "").special == SpecialValue::kNaN);
  CHECK(decodeFloat(0x00800000, "").special == SpecialValue::kNRes);
  CHECK(decodeFloat(0x007FFFFE, "").special == SpecialValue::kPositiveInfinity);
  CHECK(decodeFloat(0x00800002, "").special == SpecialValue::kNegativeInfinity);
  CHECK(decodeFloat(0x00800001, "").special == SpecialValue::kReserved);
  std::uint32_t w = 0;
  REQUIRE(encodeFloat(Decimal(3760, -2), w));
  CHECK(w == 0xFE000EB0);
  CHECK_FALSE(encodeFloat(Decimal(0x7FFFFF, 0), w));  // would be the NaN word
}
