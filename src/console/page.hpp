// The console's single page: HTML, script and style, compiled into the library so that it is
// served with no file to install and nothing fetched from elsewhere.
#pragma once

#include <string_view>

namespace jobq::console {

std::string_view page_html();
std::string_view page_script();
std::string_view page_style();

}  // namespace jobq::console
