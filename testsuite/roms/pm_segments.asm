; Protected-mode segmentation: descriptor loads and their checks, limits,
; rights, expand-down segments, null selectors (SDM vol. 3 ch. 3 and 5;
; vol. 2 MOV Sreg).
%include "harness.inc"

test_main:
    mov esi, s_hello
    call print

    ; A 4 KiB data segment (limit 0xFFF, byte granular) at 0x100000.
    SET_DESC 8, 0x100000, 0x00FFF, 0x92, 0x4      ; 0x40
    ; The same, read-only.
    SET_DESC 9, 0x100000, 0x00FFF, 0x90, 0x4      ; 0x48
    ; Expand-down data, limit 0x0FFF, B=0: valid offsets 0x1000-0xFFFF.
    SET_DESC 10, 0x200000, 0x00FFF, 0x96, 0x0     ; 0x50
    ; Not present data.
    SET_DESC 11, 0, 0xFFFFF, 0x12, 0xC            ; 0x58
    ; Execute-only code (not readable).
    SET_DESC 12, 0, 0xFFFFF, 0x98, 0xC            ; 0x60
    ; Data with DPL 3 and DPL 0 code... for RPL checks use a DPL 0 data seg.
    SET_DESC 13, 0, 0xFFFFF, 0x92, 0xC            ; 0x68

    BEGIN_EXPECT
    mov ax, 0x40
    mov fs, ax
    mov eax, [fs:0xFFC]
    END_EXPECT NO_FAULT, NO_FAULT, "dword at the last valid offset"

    BEGIN_EXPECT
    mov eax, [fs:0xFFD]
    END_EXPECT 13, 0, "dword crossing the limit: #GP(0)"

    BEGIN_EXPECT
    mov ax, 0x48
    mov fs, ax
    mov eax, [fs:0]
    END_EXPECT NO_FAULT, NO_FAULT, "read of a read-only segment"

    BEGIN_EXPECT
    mov dword [fs:0], 1
    END_EXPECT 13, 0, "write to a read-only segment: #GP(0)"

    BEGIN_EXPECT
    mov ax, 0x50
    mov gs, ax
    mov eax, [gs:0x1000]
    mov eax, [gs:0xFFFC]
    END_EXPECT NO_FAULT, NO_FAULT, "expand-down: valid above the limit"

    BEGIN_EXPECT
    mov eax, [gs:0xFFE]
    END_EXPECT 13, 0, "expand-down: #GP(0) at the limit"

    BEGIN_EXPECT
    mov eax, [gs:0xFFFE]
    END_EXPECT 13, 0, "expand-down 16-bit: #GP(0) past 0xFFFF"

    BEGIN_EXPECT
    xor ax, ax
    mov gs, ax
    END_EXPECT NO_FAULT, NO_FAULT, "loading a null selector into GS"

    BEGIN_EXPECT
    mov eax, [gs:0]
    END_EXPECT 13, 0, "using a null selector: #GP(0)"

    BEGIN_EXPECT
    mov ax, 0x58
    mov es, ax
    END_EXPECT 11, 0x58, "not-present data segment: #NP(sel)"

    BEGIN_EXPECT
    mov ax, 0x60
    mov es, ax
    END_EXPECT 13, 0x60, "execute-only code into ES: #GP(sel)"

    BEGIN_EXPECT
    mov ax, 0x1F8
    mov es, ax
    END_EXPECT 13, 0x1F8, "selector beyond the GDT limit: #GP(sel)"

    BEGIN_EXPECT
    mov ax, 0x48
    mov ss, ax
    END_EXPECT 13, 0x48, "read-only segment into SS: #GP(sel)"

    BEGIN_EXPECT
    xor ax, ax
    mov ss, ax
    END_EXPECT 13, 0, "null selector into SS: #GP(0)"

    BEGIN_EXPECT
    mov ax, 0x68 | 3
    mov ss, ax
    END_EXPECT 13, 0x68, "SS with RPL != CPL: #GP(sel)"

    BEGIN_EXPECT
    mov dword [cs:test_main], 0
    END_EXPECT 13, 0, "write through CS: #GP(0)"

    ; The accessed bit of a loaded descriptor is set in the GDT.
    and byte [GDT_BASE + 0x68 + 5], 0xFE
    mov ax, 0x68
    mov fs, ax
    test byte [GDT_BASE + 0x68 + 5], 1
    setnz al
    cmp al, 1
    CHECK "accessed bit set by the load"

    ; LAR/LSL/VERR/VERW.
    mov ax, 0x40
    lsl ebx, ax
    setz cl
    cmp ebx, 0xFFF
    sete ch
    and cl, ch
    cmp cl, 1
    CHECK "LSL gives the byte limit"

    mov ax, 0x48
    verw ax
    setz cl
    verr ax
    setz ch
    cmp cx, 0x0100
    CHECK "VERR/VERW on a read-only segment"

    mov ax, 0x60
    lar ebx, ax
    setz cl
    cmp ebx, 0x00C09800
    sete ch
    and cl, ch
    cmp cl, 1
    CHECK "LAR gives the access rights"

    ; ARPL raises RPL.
    mov ax, 0x40
    mov bx, 0x03
    arpl ax, bx
    setz cl
    cmp ax, 0x43
    sete ch
    and cl, ch
    cmp cl, 1
    CHECK "ARPL adjusts RPL and sets ZF"

    ; Loads restore sane segments.
    mov ax, SEL_DATA32
    mov fs, ax
    mov gs, ax
    mov ss, ax
    jmp finish

s_hello: db "pm_segments: protected mode entered", 10, 0

%include "rom_end.inc"
