module ProxyFixtureB
  def self.hello
    "b 1.1.0 x86_64-linux"
  end
end
