package io.connmgr.connection;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Parsing and matching of allow-list entries: pure logic, no DNS. */
class AddressAllowListTest {

  @Test
  void cidrRangesMatchOnlyIpLiteralsInThem() {
    AddressAllowList a = AddressAllowList.of("10.0.0.0/8", "192.168.1.0/24", "fd00::/8", "203.0.113.7");
    assertThat(a.allows("10.1.2.3")).isTrue();
    assertThat(a.allows("11.0.0.1")).isFalse();
    assertThat(a.allows("192.168.1.255")).isTrue();
    assertThat(a.allows("192.168.2.1")).isFalse();
    assertThat(a.allows("fd12:3456::1")).isTrue();
    assertThat(a.allows("fe80::1")).isFalse();
    assertThat(a.allows("203.0.113.7")).isTrue();
    assertThat(a.allows("203.0.113.8")).isFalse();
    assertThat(a.allows("::ffff:10.0.0.1")).isTrue(); // an IPv4-mapped address is its IPv4 address
    assertThat(a.allowsAddress("10.0.0.7:21123")).isTrue();
    assertThat(a.allowsAddress("[fd00::1]:21123")).isTrue();
    assertThat(a.allowsAddress("[fe80::1]:21123")).isFalse();
    assertThat(a.allowsAddress("not an address")).isFalse();
  }

  @Test
  void prefixLengthsThatAreNotWholeBytes() {
    AddressAllowList a = AddressAllowList.of("172.16.0.0/12", "0.0.0.0/0");
    assertThat(a.allows("172.31.255.255")).isTrue();
    assertThat(AddressAllowList.of("172.16.0.0/12").allows("172.32.0.0")).isFalse();
    assertThat(a.allows("8.8.8.8")).isTrue(); // /0: every IPv4 address
    assertThat(a.allows("::1")).isFalse(); // ... and no IPv6 one
  }

  @Test
  void namesMatchOnlyNameEntriesIgnoringCaseAndTheTrailingDot() {
    AddressAllowList a = AddressAllowList.of("db.example.com", "*.svc.cluster.local", "10.0.0.0/8");
    assertThat(a.allows("DB.Example.COM")).isTrue();
    assertThat(a.allows("db.example.com.")).isTrue();
    assertThat(a.allows("x.db.example.com")).isFalse();
    assertThat(a.allows("querynode-0.milvus.svc.cluster.local")).isTrue();
    assertThat(a.allows("a.svc.cluster.local")).isTrue();
    assertThat(a.allows("svc.cluster.local")).isFalse(); // the wildcard needs at least one label before
    assertThat(a.allows("evilsvc.cluster.local")).isFalse();
    assertThat(a.allows("localhost")).isFalse(); // a name never matches an IP range, and is never resolved
  }

  @Test
  void ipLiteralsNeverMatchNameEntries() {
    AddressAllowList a = AddressAllowList.of("*.example.com", "localhost");
    assertThat(a.allows("127.0.0.1")).isFalse();
    assertThat(a.allows("::1")).isFalse();
  }

  @Test
  void allAllowsEverythingAndParseOfBlankIsAll() {
    assertThat(AddressAllowList.ALL.allowsAll()).isTrue();
    assertThat(AddressAllowList.ALL.allows("anything")).isTrue();
    assertThat(AddressAllowList.parse("  ")).isSameAs(AddressAllowList.ALL);
    AddressAllowList p = AddressAllowList.parse("10.0.0.0/8, *.svc.cluster.local");
    assertThat(p.entries()).containsExactly("10.0.0.0/8", "*.svc.cluster.local");
    assertThat(p.allowsAll()).isFalse();
  }

  @Test
  void badEntriesAreRefusedNamingTheEntryAndWhy() {
    assertThatThrownBy(() -> AddressAllowList.of("10.0.0.0/33"))
        .hasMessage("allow-list entry '10.0.0.0/33': the prefix length 33 is outside 0..32");
    assertThatThrownBy(() -> AddressAllowList.of("10.0.0.1/8"))
        .hasMessage("allow-list entry '10.0.0.1/8': host bits are set after the first 8 bits");
    assertThatThrownBy(() -> AddressAllowList.of("10.0.0/8"))
        .hasMessage("allow-list entry '10.0.0/8': '10.0.0' before the '/' is not an IP address");
    assertThatThrownBy(() -> AddressAllowList.of("fd00::/x"))
        .hasMessage("allow-list entry 'fd00::/x': the prefix length 'x' is not a number");
    assertThatThrownBy(() -> AddressAllowList.of("300.1.2.3"))
        .hasMessage("allow-list entry '300.1.2.3': it is not a valid IP address");
    assertThatThrownBy(() -> AddressAllowList.of("fd00:::1:::2"))
        .hasMessage("allow-list entry 'fd00:::1:::2': it is not a valid IP address");
    assertThatThrownBy(() -> AddressAllowList.of("db.*.example.com"))
        .hasMessageStartingWith("allow-list entry 'db.*.example.com': a wildcard is only allowed as a leading '*.'");
    assertThatThrownBy(() -> AddressAllowList.of("*"))
        .hasMessageStartingWith("allow-list entry '*': a wildcard is only allowed");
    assertThatThrownBy(() -> AddressAllowList.of("db..example.com"))
        .hasMessage("allow-list entry 'db..example.com': the host name has an empty label");
    assertThatThrownBy(() -> AddressAllowList.of("http://db.example.com"))
        .hasMessageStartingWith("allow-list entry 'http://db.example.com': ");
    assertThatThrownBy(() -> AddressAllowList.of("db.example.com:19530"))
        .hasMessageStartingWith("allow-list entry 'db.example.com:19530': ");
    assertThatThrownBy(() -> AddressAllowList.parse("10.0.0.0/8,,fd00::/8"))
        .hasMessage("allow-list entry '': it is empty");
    assertThatThrownBy(() -> AddressAllowList.of())
        .hasMessageStartingWith("allow-list: no entry given");
  }
}
