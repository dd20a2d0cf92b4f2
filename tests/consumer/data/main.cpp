// Uses the installed juice::data: reads a demonstration, pre-tokenises with PCRE2, batches it.
#include <iostream>
#include <sstream>

#include <juice/data/data.hpp>

int main() {
  std::istringstream in("{\"prompt\": \"Hi\", \"response\": \" there, it's me\"}\n");
  const auto demos = juice::read_demonstrations(in, "inline.jsonl");
  int pieces = 0;
  juice::data::pretokenizer().split(demos.records[0].response, [&](std::string_view) { ++pieces; });
  const auto batch = juice::make_batch(juice::tokenize(demos, juice::byte_tokenizer(true)), 0, 1);
  std::cout << "pieces " << pieces << " width " << batch.width() << "\n";  // " there" "," " it" "'s" " me"
}
