#include "jobq/payload.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "jobq/json.hpp"

namespace shop {

struct Address {
  std::string city;
  std::optional<std::string> zip;
};
JOBQ_PAYLOAD(Address, city, zip);

struct Item {
  std::string sku;
  std::uint32_t quantity;
};
JOBQ_PAYLOAD(Item, sku, quantity);

struct Order {
  std::string id;
  std::int64_t customer;
  std::uint64_t total_cents;
  double weight;
  float discount;
  bool gift;
  std::int8_t priority;
  std::uint16_t warehouse;
  std::optional<std::string> note;
  std::vector<std::string> tags;
  std::vector<Item> items;
  Address ship_to;
};
JOBQ_PAYLOAD(Order, id, customer, total_cents, weight, discount, gift, priority, warehouse, note, tags, items, ship_to);

bool operator==(const Address& a, const Address& b) { return a.city == b.city && a.zip == b.zip; }
bool operator==(const Item& a, const Item& b) { return a.sku == b.sku && a.quantity == b.quantity; }
bool operator==(const Order& a, const Order& b) {
  return a.id == b.id && a.customer == b.customer && a.total_cents == b.total_cents && a.weight == b.weight &&
         a.discount == b.discount && a.gift == b.gift && a.priority == b.priority && a.warehouse == b.warehouse &&
         a.note == b.note && a.tags == b.tags && a.items == b.items && a.ship_to == b.ship_to;
}

}  // namespace shop

namespace {

using shop::Order;

constexpr const char* full_order = R"({
  "id": "o-17", "customer": -42, "total_cents": 18446744073709551615, "weight": 1.25, "discount": 0.5,
  "gift": true, "priority": -3, "warehouse": 65535, "note": "leave at door",
  "tags": ["fragile", "express"],
  "items": [{"sku": "A1", "quantity": 2}, {"quantity": 1, "sku": "B2"}],
  "ship_to": {"city": "Lyon", "zip": "69001"}
})";

/// The message of a bind that must fail.
std::string bind_error(std::string_view json) {
  Order order;
  const jobq::Status status = jobq::from_json(json, order);
  EXPECT_FALSE(status.ok()) << json;
  EXPECT_EQ(status.kind(), jobq::Status::Kind::skip_retry) << json;
  return status.message();
}

std::string with(std::string_view replacement_key, std::string_view replacement_value) {
  // full_order with one top-level member's value replaced.
  std::string text = full_order;
  const std::string key = "\"" + std::string(replacement_key) + "\": ";
  const std::size_t start = text.find(key) + key.size();
  std::size_t end = start;
  int depth = 0;
  for (; end < text.size(); ++end) {
    const char c = text[end];
    if (c == '[' || c == '{') ++depth;
    if (c == ']' || c == '}') {
      if (depth == 0) break;
      --depth;
    }
    if (c == ',' && depth == 0) break;
  }
  text.replace(start, end - start, replacement_value);
  return text;
}

TEST(PayloadBind, BindsEveryFieldType) {
  Order order;
  ASSERT_TRUE(jobq::from_json(full_order, order).ok()) << jobq::from_json(full_order, order).message();
  EXPECT_EQ(order.id, "o-17");
  EXPECT_EQ(order.customer, -42);
  EXPECT_EQ(order.total_cents, std::numeric_limits<std::uint64_t>::max());
  EXPECT_DOUBLE_EQ(order.weight, 1.25);
  EXPECT_FLOAT_EQ(order.discount, 0.5f);
  EXPECT_TRUE(order.gift);
  EXPECT_EQ(order.priority, -3);
  EXPECT_EQ(order.warehouse, 65535);
  EXPECT_EQ(order.note, "leave at door");
  EXPECT_EQ(order.tags, (std::vector<std::string>{"fragile", "express"}));
  ASSERT_EQ(order.items.size(), 2u);
  EXPECT_EQ(order.items[1].sku, "B2");
  EXPECT_EQ(order.items[1].quantity, 1u);
  EXPECT_EQ(order.ship_to.city, "Lyon");
  EXPECT_EQ(order.ship_to.zip, "69001");
}

TEST(PayloadBind, OptionalsMayBeAbsentOrNull) {
  Order order;
  order.note = "stale";
  order.ship_to.zip = "stale";
  std::string text = with("note", "null");
  text = text.substr(0, text.find(", \"zip\"")) + "}\n}";
  ASSERT_TRUE(jobq::from_json(text, order).ok()) << text;
  EXPECT_FALSE(order.note.has_value());
  EXPECT_FALSE(order.ship_to.zip.has_value());
}

TEST(PayloadBind, IgnoresUnknownFieldsOfAnyShape) {
  Order order;
  std::string text = full_order;
  text.insert(1, R"("extra": {"deep": [1, {"x": null}], "s": "}"}, "more": [true, false], )");
  ASSERT_TRUE(jobq::from_json(text, order).ok()) << jobq::from_json(text, order).message();
  EXPECT_EQ(order.id, "o-17");
}

TEST(PayloadBind, KeysMatchByTheirValueInAnyOrderAndWithEscapes) {
  // Keys are compared as written first; one spelled with escapes is compared unescaped. A key
  // that only starts like a field name, or extends one, names nothing.
  Order order;
  const std::string text = R"({"ship_to": {"zip": "1", "c\u0069ty": "Nice"}, "items": [], "tags": [],
    "war\u0065house": 7, "priority": 1, "gift": false, "discount": 0, "weight": 0, "total_cents": 5,
    "customer": 2, "i": "prefix", "idx": "extended", "\u0069d": "o-18", "note": null})";
  const jobq::Status status = jobq::from_json(text, order);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(order.id, "o-18");
  EXPECT_EQ(order.warehouse, 7);
  EXPECT_EQ(order.ship_to.city, "Nice");
  EXPECT_EQ(order.ship_to.zip, "1");
  EXPECT_EQ(order.total_cents, 5u);
  // An unknown key is still checked when it has escapes: a bad one is an error, not skipped.
  EXPECT_NE(bind_error(R"({"b\qd": 1})").find("STRING_ERROR"), std::string::npos);
}

TEST(PayloadBind, NamesOfAWordAndLongerMatchOnlyInFull) {
  // A key is compared with a name's first 8 bytes in one word, then byte by byte: "priority" is
  // exactly 8 bytes, "total_cents" 11. Keys that differ before, at or after the eighth byte, or
  // that stop short or run on, name nothing; the real ones come last and win.
  Order order;
  const std::string text = R"({"ship_to": {"city": "Nice"}, "items": [], "tags": [], "warehouse": 7, "gift": false,
    "discount": 0, "weight": 0, "customer": 2, "id": "o-19", "note": null,
    "priorit": 9, "priorityy": 9, "prioritx": 9, "Priority": 9,
    "total_ce": 9, "total_cent": 9, "total_centsx": 9, "total_cenTs": 9, "xotal_cents": 9
    , "priority": 3, "total_cents": 5})";
  const jobq::Status status = jobq::from_json(text, order);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(order.priority, 3);
  EXPECT_EQ(order.total_cents, 5u);
  // Without the real key, the look-alikes do not stand in for it.
  for (const std::string real : {R"(, "priority": 3)", R"(, "total_cents": 5)"}) {
    std::string without = text;
    without.replace(without.find(real), real.size(), "");
    const std::string field = real.substr(3, real.find('"', 3) - 3);
    EXPECT_NE(bind_error(without).find("field '" + field + "': NO_SUCH_FIELD"), std::string::npos) << bind_error(without);
  }
}

TEST(PayloadBind, MissingRequiredFieldIsNamed) {
  std::string text = full_order;
  text.replace(text.find("\"customer\": -42,"), 16, "");
  const std::string message = bind_error(text);
  EXPECT_NE(message.find("field 'customer'"), std::string::npos) << message;
  EXPECT_NE(message.find("NO_SUCH_FIELD"), std::string::npos) << message;
}

TEST(PayloadBind, WrongTypeNamesTheFieldAndTheParserError) {
  const std::string message = bind_error(with("gift", "\"yes\""));
  EXPECT_NE(message.find("field 'gift'"), std::string::npos) << message;
  EXPECT_NE(message.find("INCORRECT_TYPE"), std::string::npos) << message;
  EXPECT_NE(bind_error(with("id", "17")).find("field 'id'"), std::string::npos);
  EXPECT_NE(bind_error(with("tags", "\"fragile\"")).find("field 'tags'"), std::string::npos);
  EXPECT_NE(bind_error(with("customer", "1.5")).find("field 'customer'"), std::string::npos);
}

TEST(PayloadBind, OutOfRangeNumbersAreRefused) {
  EXPECT_NE(bind_error(with("priority", "128")).find("field 'priority': NUMBER_OUT_OF_RANGE"), std::string::npos);
  EXPECT_NE(bind_error(with("priority", "-129")).find("NUMBER_OUT_OF_RANGE"), std::string::npos);
  EXPECT_NE(bind_error(with("warehouse", "65536")).find("field 'warehouse'"), std::string::npos);
  EXPECT_NE(bind_error(with("warehouse", "-1")).find("field 'warehouse'"), std::string::npos);
  EXPECT_NE(bind_error(with("total_cents", "18446744073709551616")).find("field 'total_cents'"), std::string::npos);
  EXPECT_NE(bind_error(with("discount", "1e300")).find("field 'discount'"), std::string::npos);
}

// The shortest text of FLT_MAX, 3.4028235e+38, reads as a double just above FLT_MAX; it and every
// other double that rounds to a finite float must bind. Found by fuzz/dispatch_fuzz.cpp.
TEST(PayloadBind, FloatsBindUpToTheLastValueThatRoundsToAFiniteFloat) {
  constexpr float largest = std::numeric_limits<float>::max();
  Order order;
  ASSERT_TRUE(jobq::from_json(with("discount", "3.4028235e+38"), order).ok());
  EXPECT_EQ(order.discount, largest);
  ASSERT_TRUE(jobq::from_json(with("discount", "-3.4028235e+38"), order).ok());
  EXPECT_EQ(order.discount, -largest);
  // 2^128 - 2^103 lies halfway between FLT_MAX and 2^128, and rounds to infinity (ties to even).
  EXPECT_NE(bind_error(with("discount", "3.4028235677973366e+38")).find("field 'discount': NUMBER_OUT_OF_RANGE"),
            std::string::npos);
  EXPECT_NE(bind_error(with("discount", "-3.4028235677973366e+38")).find("NUMBER_OUT_OF_RANGE"), std::string::npos);
  EXPECT_NE(bind_error(with("discount", "3.4028236e+38")).find("NUMBER_OUT_OF_RANGE"), std::string::npos);
}

TEST(PayloadBind, NestedAndArrayPathsAreNamed) {
  EXPECT_NE(bind_error(with("ship_to", R"({"city": 5})")).find("field 'ship_to.city'"), std::string::npos);
  EXPECT_NE(bind_error(with("ship_to", R"({"zip": "1"})")).find("field 'ship_to.city'"), std::string::npos);
  const std::string message = bind_error(with("items", R"([{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": -1}])"));
  EXPECT_NE(message.find("field 'items[1].quantity'"), std::string::npos) << message;
  EXPECT_NE(bind_error(with("tags", R"(["a", 2])")).find("field 'tags[1]'"), std::string::npos);
}

TEST(PayloadBind, MalformedDocumentsAreRefused) {
  for (std::string_view text : {std::string_view(""), std::string_view("   "), std::string_view("{"),
                                std::string_view(R"({"id": "o-17")"), std::string_view("[1,2]"),
                                std::string_view("nul"), std::string_view(R"({"id" "x"})")}) {
    Order order;
    const jobq::Status status = jobq::from_json(text, order);
    EXPECT_FALSE(status.ok()) << "'" << text << "'";
    EXPECT_FALSE(status.message().empty());
  }
}

TEST(PayloadBind, TrailingContentIsRefused) {
  const std::string message = bind_error(std::string(full_order) + " {}");
  EXPECT_NE(message.find("TRAILING_CONTENT"), std::string::npos) << message;
}

TEST(PayloadWrite, EscapesStringsPerJson) {
  shop::Address address{"quote\" backslash\\ newline\n tab\t bell\x07 nul", std::nullopt};
  address.city.push_back('\0');
  address.city += " é 日本 😀";
  const jobq::Result<std::string> text = jobq::to_json(address);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "{\"city\":\"quote\\\" backslash\\\\ newline\\n tab\\t bell\\u0007 nul\\u0000 é 日本 😀\"}");
}

/// The escaping rules, one byte at a time: the reference the word-at-a-time writer must match.
std::string reference_json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (byte < 0x20) {
      const std::map<char, std::string> short_forms{{'\b', "\\b"}, {'\f', "\\f"}, {'\n', "\\n"}, {'\r', "\\r"}, {'\t', "\\t"}};
      if (short_forms.contains(c)) {
        out += short_forms.at(c);
      } else {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
        out += escaped;
      }
    } else {
      out += c;
    }
  }
  return out + "\"";
}

TEST(PayloadWrite, EscapesEveryPositionOfLongStrings) {
  // Specials at every offset of strings long enough for several 8-byte steps, next to
  // non-ASCII bytes whose low bits look like control characters (0x85, 0xC2 0xA0).
  const std::string specials[] = {"\"", "\\", "\n", std::string(1, '\x01'), std::string(1, '\x1f'), " ", "\xC2\x85",
                                  "\xC2\xA0"};
  for (std::size_t length = 0; length < 40; ++length) {
    for (std::size_t at = 0; at <= length; ++at) {
      for (const std::string& special : specials) {
        std::string text(length, 'a');
        text.insert(at, special);
        shop::Address address{text, std::nullopt};
        const jobq::Result<std::string> json = jobq::to_json(address);
        ASSERT_TRUE(json.ok());
        ASSERT_EQ(*json, "{\"city\":" + reference_json_string(text) + "}") << "length " << length << " at " << at;
        shop::Address copy;
        ASSERT_TRUE(jobq::from_json(*json, copy).ok()) << *json;
        ASSERT_EQ(copy.city, text);
      }
    }
  }
}

TEST(PayloadWrite, RoundTripsThroughBind) {
  Order original;
  ASSERT_TRUE(jobq::from_json(full_order, original).ok());
  original.note = "line\nbreak \"quoted\" \x01 ✓";
  original.tags.push_back("\\");
  original.weight = 0.1;
  original.customer = std::numeric_limits<std::int64_t>::min();
  const jobq::Result<std::string> text = jobq::to_json(original);
  ASSERT_TRUE(text.ok()) << text.error().message();
  Order copy;
  ASSERT_TRUE(jobq::from_json(*text, copy).ok()) << *text;
  EXPECT_EQ(copy, original) << *text;
}

TEST(PayloadWrite, FloatExtremesRoundTripThroughBind) {
  using limits = std::numeric_limits<float>;
  Order original;
  ASSERT_TRUE(jobq::from_json(full_order, original).ok());
  for (const float value : {limits::max(), limits::lowest(), limits::min(), limits::denorm_min(), -limits::denorm_min()}) {
    original.discount = value;
    const jobq::Result<std::string> text = jobq::to_json(original);
    ASSERT_TRUE(text.ok()) << text.error().message();
    Order copy;
    const jobq::Status bound = jobq::from_json(*text, copy);
    ASSERT_TRUE(bound.ok()) << bound.message() << " in " << *text;
    EXPECT_EQ(copy.discount, value) << *text;
  }
}

TEST(PayloadWrite, EmptyOptionalsAreOmittedAndBindBackEmpty) {
  shop::Address address{"Paris", std::nullopt};
  const jobq::Result<std::string> text = jobq::to_json(address);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, R"({"city":"Paris"})");
  shop::Address copy{"x", "stale"};
  ASSERT_TRUE(jobq::from_json(*text, copy).ok());
  EXPECT_EQ(copy, address);
}

TEST(PayloadWrite, RefusesInvalidUtf8AndNonFiniteNumbers) {
  Order order;
  ASSERT_TRUE(jobq::from_json(full_order, order).ok());
  order.items[1].sku = "bad \xC3\x28 utf8";
  jobq::Result<std::string> text = jobq::to_json(order);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.code(), jobq::Errc::invalid_payload);
  EXPECT_NE(text.error().message().find("items[1].sku"), std::string::npos) << text.error().message();
  for (std::size_t at = 0; at < 40; ++at) {  // a bad byte in any 8-byte step is found
    std::string long_sku(40, 'x');
    long_sku[at] = '\xFF';
    order.items[1].sku = long_sku;
    EXPECT_FALSE(jobq::to_json(order).ok()) << "bad byte at " << at;
  }
  order.items[1].sku = "ok";
  order.weight = std::nan("");
  text = jobq::to_json(order);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message().find("'weight'"), std::string::npos) << text.error().message();
}

}  // namespace
