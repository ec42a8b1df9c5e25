import Testing
@testable import Paddington

@Suite("TOML reader and writer")
struct TOMLTests {
    @Test("the TOML features configuration files use")
    func features() throws {
        let text = #"""
            # comment
            bare = "basic \"escaped\" \\ \u00e9 \t"
            literal = 'C:\path'
            multi = """
            line one
            line \
               two"""
            multiLiteral = '''
            raw \n'''
            int = +1_000
            neg = -17
            hex = 0xdead_beef
            oct = 0o17
            bin = 0b101
            float = 6.626e-34
            inf = -inf
            yes = true
            date = 1979-05-27T07:32:00Z
            local = 1979-05-27 07:32:00
            array = [ 1, 2,
              3, # trailing comma and comment
            ]
            inline = { a = 1, b.c = "x" }
            "quoted key" = 1
            dotted.key = "v"

            [table]
            k = "v"

            [[items]]
            n = 1

            [[items]]
            n = 2

            [items.sub]
            deep = true
            """#
        let table = try TOML.parse(text)
        #expect(table["bare"] == .string("basic \"escaped\" \\ é \t"))
        #expect(table["literal"] == .string(#"C:\path"#))
        #expect(table["multi"] == .string("line one\nline two"))
        #expect(table["multiLiteral"] == .string(#"raw \n"#))
        #expect(table["int"] == .integer(1000))
        #expect(table["neg"] == .integer(-17))
        #expect(table["hex"] == .integer(0xdeadbeef))
        #expect(table["oct"] == .integer(15))
        #expect(table["bin"] == .integer(5))
        #expect(table["float"] == .float(6.626e-34))
        #expect(table["inf"] == .float(-.infinity))
        #expect(table["yes"] == .boolean(true))
        #expect(table["date"] == .datetime("1979-05-27T07:32:00Z"))
        #expect(table["local"] == .datetime("1979-05-27 07:32:00"))
        #expect(table["array"] == .array([.integer(1), .integer(2), .integer(3)]))
        guard case .table(let inline)? = table["inline"], case .table(let b)? = inline["b"] else { Issue.record("inline"); return }
        #expect(inline["a"] == .integer(1))
        #expect(b["c"] == .string("x"))
        #expect(table["quoted key"] == .integer(1))
        guard case .array(let items)? = table["items"], items.count == 2, case .table(let second) = items[1],
            case .table(let sub)? = second["sub"]
        else { Issue.record("items"); return }
        #expect(sub["deep"] == .boolean(true))
        #expect(table.keys.first == "bare")
    }

    @Test("malformed documents are refused with line and column", arguments: [
        ("a = ", "expected a value, found the end of the file at line 1, column 5"),
        ("a = 1\na = 2", "the key 'a' is defined twice at line 2"),
        ("[t]\n[t]", "the table 't' is defined twice at line 2"),
        ("a = \"open", "a string is not closed"),
        ("a = 'x\ny'", "a line break inside a single-line string"),
        ("a = \"\\q\"", "an invalid escape '\\q'"),
        ("a = \"\\uD800\"", "an invalid \\u escape"),
        ("a = 1 2", "expected the end of the line, found '2'"),
        ("a = [1 2]", "expected ',' or ']' in an array, found '2'"),
        ("a = {b = 1", "expected ',' or '}' in an inline table"),
        ("a = 01", "'01' is not a valid value"),
        ("a = 1__0", "'1__0' is not a valid value"),
        ("a = tru", "expected a value, found 't' at line 1, column 5"),
        ("a = 1\n[a]", "'a' is already defined and is not a table"),
        ("a.b = 1\n[a]", "the table 'a' is defined twice"),
        ("[[a]]\n[a]", "'a' is already defined and is not a table"),
        ("x = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "values nested more than 64 deep"),
        ("a = 99999999999999999999", "is not a valid value"),
    ])
    func malformed(text: String, expected: String) {
        #expect { try TOML.parse(text) } throws: { error in
            guard let error = error as? TOML.SyntaxError else { return false }
            return error.description.contains(expected)
        }
    }

    @Test("a service configuration renders in the Rust crate's layout, field order included")
    func rustConfigurationLayout() throws {
        // The spec's example (§2.1), byte for byte, with a final line break as toml-rs writes it.
        let expected = ServiceConfigurationTests.rustText + "\n"
        let config = try ServiceConfiguration.parse(expected)
        #expect(config.rendered() == expected)
    }

    @Test("rendering escapes what must be escaped and round-trips")
    func roundTrip() throws {
        var table = TOML.Table()
        table["text"] = .string("quote \" backslash \\ tab \t nul \u{0} é")
        table["odd key"] = .integer(-5)
        table["list"] = .array([.string("a"), .boolean(false), .float(1.5)])
        var sub = TOML.Table()
        sub["x"] = .integer(1)
        table["sub"] = .table(sub)
        let text = TOML.render(table)
        #expect(try TOML.parse(text) == table)
        #expect(text.contains(#"text = "quote \" backslash \\ tab \t nul \u0000 é""#))
        #expect(text.contains(#""odd key" = -5"#))
    }
}
